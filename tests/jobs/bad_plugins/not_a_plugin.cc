// A shared library without mr_plugin_v1.
extern "C" __attribute__((visibility("default"))) int not_a_plugin() { return 42; }
