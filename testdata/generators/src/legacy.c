/* Compiled by the C++ compiler: a class in a .c file. */
struct Legacy {
    int value() const { return 42; }
};

int legacy_value() { return Legacy().value(); }
