#include <stdio.h>
#include "geo/shape.h"

static double weight(double x) { return x / 2; }

int main() {
    geo::Circle circle(1.0);
    geo::Square square(2.0);
    const geo::Shape* shapes[] = {&circle, &square};
    printf("%f %f\n", geo::total_area(shapes, 2), weight(circle.area()));
    return 0;
}
