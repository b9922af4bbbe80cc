/* Reference reader for the gala-gopher configuration tests: reads a file with the system's
 * libconfig and prints every setting as "path type value", one per line, so a test can compare
 * what libconfig reads with what the agent's own parser reads.
 *
 *   libconfig_dump FILE      dump, or "LINE: reason" on stderr and exit 2
 *   libconfig_dump --version the libconfig version it was built against
 */
#include <libconfig.h>
#include <stdio.h>
#include <string.h>

static void dump(const config_setting_t *s, const char *prefix)
{
  char path[4096];
  const char *name = config_setting_name(s);
  if (name)
    snprintf(path, sizeof path, "%s%s%s", prefix, *prefix ? "." : "", name);
  else
    snprintf(path, sizeof path, "%s[%d]", prefix, config_setting_index(s));

  switch (config_setting_type(s)) {
  case CONFIG_TYPE_GROUP:
  case CONFIG_TYPE_LIST:
  case CONFIG_TYPE_ARRAY: {
    int type = config_setting_type(s);
    int n = config_setting_length(s);
    printf("%s %s %d\n", path,
           type == CONFIG_TYPE_GROUP ? "group" : type == CONFIG_TYPE_LIST ? "list" : "array", n);
    for (int i = 0; i < n; i++)
      dump(config_setting_get_elem(s, i), path);
    break;
  }
  case CONFIG_TYPE_INT:
    printf("%s int %d\n", path, config_setting_get_int(s));
    break;
  case CONFIG_TYPE_INT64:
    printf("%s int64 %lld\n", path, config_setting_get_int64(s));
    break;
  case CONFIG_TYPE_FLOAT: {
    /* The bit pattern, so both sides print the same double the same way. */
    double d = config_setting_get_float(s);
    unsigned long long bits;
    memcpy(&bits, &d, sizeof bits);
    printf("%s float %016llx\n", path, bits);
    break;
  }
  case CONFIG_TYPE_BOOL:
    printf("%s bool %d\n", path, config_setting_get_bool(s));
    break;
  case CONFIG_TYPE_STRING: {
    printf("%s string \"", path);
    for (const unsigned char *p = (const unsigned char *)config_setting_get_string(s); *p; p++) {
      if (*p < 0x20 || *p >= 0x7f || *p == '"' || *p == '\\')
        printf("\\x%02x", *p);
      else
        putchar(*p);
    }
    printf("\"\n");
    break;
  }
  default:
    printf("%s none\n", path);
  }
}

int main(int argc, char **argv)
{
  if (argc != 2) {
    fprintf(stderr, "usage: %s FILE | --version\n", argv[0]);
    return 64;
  }
  if (strcmp(argv[1], "--version") == 0) {
#ifdef LIBCONFIG_VER_MAJOR
    printf("%d.%d\n", LIBCONFIG_VER_MAJOR, LIBCONFIG_VER_MINOR);
#else
    printf("0.0\n");
#endif
    return 0;
  }
  config_t c;
  config_init(&c);
  if (!config_read_file(&c, argv[1])) {
    fprintf(stderr, "%d: %s\n", config_error_line(&c), config_error_text(&c));
    config_destroy(&c);
    return 2;
  }
  const config_setting_t *root = config_root_setting(&c);
  for (int i = 0; i < config_setting_length(root); i++)
    dump(config_setting_get_elem(root, i), "");
  config_destroy(&c);
  return 0;
}
