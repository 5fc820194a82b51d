"""The data of a result: frozen tables and sections, the JSON codec with its format migrations, atomic writes."""
