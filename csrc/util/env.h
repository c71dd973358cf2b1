/* env.h - the one reader of the environment. Every variable remotezoo's C code reads goes
 * through here (the Python face reads REMOTEZOO_HOME and passes the directory in), so what the
 * C core depends on is listed by one grep, and every number is read by one rule. */
#ifndef RZ_ENV_H
#define RZ_ENV_H

/* The value of name, or NULL when it is unset or empty (for every variable remotezoo reads, an
 * empty value means the default). Borrowed from the environment: valid until it changes. */
const char *rz_env(const char *name);

/* 1 if name is set to anything but "" or "0" (REMOTEZOO_OFFLINE), else 0. */
int rz_env_flag(const char *name);

/* name as a decimal integer in [min, max]; dflt when unset, empty, not a whole number or out
 * of range (an invalid value is ignored, never an error). */
long long rz_env_ll(const char *name, long long dflt, long long min, long long max);

#endif
