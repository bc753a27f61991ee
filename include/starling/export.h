// export.h - SL_EXPORT: what libstarling and the worker export.
// SPDX-License-Identifier: MIT
//
// starling is built with -fvisibility=hidden, so that a program or module
// linking libstarling.so sees the public sl_ API and nothing internal (nng
// does the same with NNG_DECL). Every public function is declared with
// SL_EXPORT; the internal sl__ functions are not, and stay out of the
// dynamic symbol table (tests/integration/exports_test.sh checks it).
#ifndef STARLING_EXPORT_H
#define STARLING_EXPORT_H

#if defined(__GNUC__) || defined(__clang__)
#define SL_EXPORT __attribute__((visibility("default")))
#else
#define SL_EXPORT
#endif

#endif
