int always();

#ifdef FEATURE
void feature_on();
#else
void feature_off();
#endif
