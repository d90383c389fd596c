// SPDX-License-Identifier: Apache-2.0
// The public header as C++11 (extern "C" declarations); see header_check.c.
#include "header_check.c"
