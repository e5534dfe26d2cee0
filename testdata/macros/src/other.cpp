#include "b/bounds.h"

int other_limit() { return LIMIT; }

// Included twice: its macro is defined and expanded twice, at the same places.
#include "twice.inc"
#include "twice.inc"
