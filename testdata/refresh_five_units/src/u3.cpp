#include "shared.h"

int u3() { return shared::value() + 3; }
