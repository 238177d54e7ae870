// The public functions and classes keep their names in the minified builds.

/**
 * Gives each value its key as its `name`. The build minifies identifiers without esbuild's
 * keepNames (which renamed every function and class of the bundle at load: 0.1-0.7 ms
 * of a 9-11 ms cold start), so a public class or function would otherwise be named by a
 * letter in `util.inspect`, an error's printout (`err.constructor.name`) or `Pool.name`.
 * @param {Record<string, Function>} values
 */
export function named(values) {
  for (const [name, value] of Object.entries(values)) {
    if (value.name !== name) Object.defineProperty(value, "name", { value: name, configurable: true });
  }
}
