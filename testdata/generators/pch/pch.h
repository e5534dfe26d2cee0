// The precompiled header: every unit is compiled with it forced in, and
// the sources rely on it instead of including what they use.
#pragma once
#include <string>
#include <vector>

#include "../src/shape.h"
