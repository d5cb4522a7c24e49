"""Text people send (values, labels, reasons): what PostgreSQL cannot store, said in words."""


def unstorable(text):
    """Why PostgreSQL cannot store `text` in a text or JSON column, or None when it can."""
    if "\x00" in text:
        return "contains a NUL character"
    if not text.isascii():
        try:
            text.encode()
        except UnicodeEncodeError:
            return "is not valid Unicode text (a lone surrogate)"
    return None
