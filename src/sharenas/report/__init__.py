"""Reports: tables, plots and diagrams people look at. Every module of this package is imported
here, so a space's report module registers its figures by being here."""

import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
