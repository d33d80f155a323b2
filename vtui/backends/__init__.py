"""Engine backends: one per engine, the same async interface (vtui.backends.base), no textual.
The registry of engines (vtui.backends.registry) is read by the command line's parser: it, and this
package, import nothing heavy."""
