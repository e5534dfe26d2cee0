#include "loc/text.h"

using namespace text;

template <typename Less>
void order(int* first, int* last, Less less);

int shortest(int* lengths, int count) {
    struct ByLength {
        bool operator()(int a, int b) const { return measure(a) < measure(b); }
    };
    class Counter {
    public:
        int next() { return bump(); }
        int bump() { return ++count_; }

    private:
        int count_ = 0;
    };
    union Bits {
        int whole;
        char bytes[4];
    };
    enum Mode { Fast, Careful };
    order(lengths, lengths + count, ByLength());
    Counter counter;
    auto twice = [&](int x) { return alias::measure(x) * 2 + counter.next(); };
    Mode mode = Careful;
    Flag flag;
    Bits bits{};
    if (!flag) {
        goto done;
    }
    bits.whole = lookup(7) + lookup(Name(8));
done:
    return twice(lengths[0]) + (mode == Fast) + bits.whole;
}
