"""Reports: tables, plots and diagrams people look at. Every module of this package is imported
here, so a space's report module registers its figures by being here."""

from sharenas.registration import import_members

import_members(__name__, __path__)
