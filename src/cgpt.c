/* cgpt: the single binary; dispatches to one subcommand per file in src/cmd/. */
int main(int argc, char **argv);
int main(int argc, char **argv) { (void)argc; (void)argv; return 0; }
