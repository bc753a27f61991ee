// starling.h - everything a starling user includes.
// SPDX-License-Identifier: MIT
#ifndef STARLING_STARLING_H
#define STARLING_STARLING_H

#define SL_VERSION_MAJOR 0
#define SL_VERSION_MINOR 1
#define SL_VERSION_PATCH 0
#define SL_VERSION_STRING "0.1.0"

#include <starling/client.h>
#include <starling/kernel.h>
#include <starling/value.h>

#endif
