"""The custody chain: hand-offs, provision and return of bulk media, exceptions, custody reports."""
