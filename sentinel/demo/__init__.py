"""`sentinel demo`: the footage it plays (built once from imagery that packages ship) and the demo grid worker."""
