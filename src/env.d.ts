interface ImportMetaEnv {
  /** True only in a test build (`VITE_TEST_HOOKS=1`): fault injection and benchmark hooks are compiled in. */
  readonly VITE_TEST_HOOKS: boolean;
}
