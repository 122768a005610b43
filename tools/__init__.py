"""Developer tools: code generation (`python -m tools.rights_codegen`)."""
