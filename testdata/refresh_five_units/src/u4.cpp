#include "solo.h"

int u4() { return solo_helper(4); }
