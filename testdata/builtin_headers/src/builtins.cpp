#include <stdarg.h>
#include <stddef.h>

size_t sum_sizes(int count, ...) {
    va_list args;
    va_start(args, count);
    size_t total = 0;
    for (int i = 0; i < count; ++i) {
        total += va_arg(args, size_t);
    }
    va_end(args);
    return total;
}
