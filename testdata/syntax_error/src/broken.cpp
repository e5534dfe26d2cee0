int before_error(int x) { return x + 1; }

struct Before {
    int field;
};

int broken(int x) {
    return x +;
}
