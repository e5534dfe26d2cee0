#ifdef U5_EXTRA
int u5_extra();
#endif

int u5() { return 5; }
