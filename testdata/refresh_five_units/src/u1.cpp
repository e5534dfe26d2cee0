#include "shared.h"

int u1() { return shared::value(); }
