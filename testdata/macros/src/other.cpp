#include "b/bounds.h"

int other_limit() { return LIMIT; }
