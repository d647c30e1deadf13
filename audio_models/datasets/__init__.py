"""Dataset loaders (ICBHI 2017, a generic folder + CSV) and the public-dataset fetcher."""
