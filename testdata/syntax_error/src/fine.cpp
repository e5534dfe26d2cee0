int fine() { return 42; }
