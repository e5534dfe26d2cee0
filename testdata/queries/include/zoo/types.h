#pragma once

namespace zoo {

/// A weight in grams.
typedef unsigned long Grams;

/// Names, as the zoo spells them.
using Name = const char *;

template <typename T>
struct Box {
  T value;
};

using BoxedGrams = Box<Grams>;

/// The heavier of two.
template <typename T>
T heavier(T a, T b) { return a < b ? b : a; }

/// Two of a kind, boxed.
template <typename T>
using Pair = Box<T[2]>;

}  // namespace zoo
