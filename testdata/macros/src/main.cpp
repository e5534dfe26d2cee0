#include <cstdlib>
#include "config.h"
#include "a/bounds.h"

#ifdef VERSION
int version() { return VERSION; }
#endif

#if defined(SQUARE) && VERSION > 2
int area(int side) { return SQUARE(side) + SUM(1, LIMIT); }
#endif

#ifndef NOT_DEFINED
int flagged() { return FROM_FLAG + EXIT_SUCCESS; }
#endif
