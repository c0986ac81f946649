"""Griffe extension: show the docstrings' Sphinx roles (:func:`x`, :class:`~a.B`) as code.

The docstrings follow numpydoc, whose cross-references are Sphinx roles; mkdocstrings renders
Markdown, where a role would show as literal text.
"""

import re

import griffe

ROLE = re.compile(r":(?:func|class|meth|mod|attr|data|obj|exc):`~?([^`]+)`")


class SphinxRolesAsCode(griffe.Extension):
    def on_instance(self, *, node, obj, agent, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = ROLE.sub(r"`\1`", obj.docstring.value)
