#pragma once
// doctest for tests that include LibTorch: include this first, instead of <doctest/doctest.h>.
// c10/util/Logging.h defines CHECK, CHECK_EQ, ... (glog's in Debian's LibTorch, c10's own in PyTorch's):
// included after doctest, they silently replace doctest's, so a failing CHECK aborts the whole test
// binary ("Check failed: ...") instead of reporting the values and going on. Logging.h is included
// here first and its macros that doctest also defines are dropped; its include guard keeps any later
// torch header from defining them again.
#include <c10/util/Logging.h>

#undef CHECK
#undef CHECK_EQ
#undef CHECK_NE
#undef CHECK_LT
#undef CHECK_LE
#undef CHECK_GT
#undef CHECK_GE

#include <doctest/doctest.h>
