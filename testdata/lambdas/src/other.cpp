#include "lam/work.h"

int other() { return both(3); }
