/* A shared object named like a plugin but without crease_plugin_entry. */
int crease_not_the_entry(void);
int crease_not_the_entry(void) { return 42; }
