#pragma once
#define VERSION 3
#define SQUARE(x) ((x) * (x))
#define SUM(a, b) \
    ((a) +        \
     (b))
