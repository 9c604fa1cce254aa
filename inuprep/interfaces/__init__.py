"""Thin nipype interfaces: load, check, call a pure function, save into the node's folder."""
