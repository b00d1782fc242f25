"""The models as they are now; `migrations_start/` holds them as they were, so that
`makemigrations --online` has changes to write (tests/test_makemigrations.py)."""

from django.db import models


class Book(models.Model):
    title = models.CharField(max_length=200)  # was `name`
    isbn = models.CharField(max_length=20)  # was 13 long
    pages = models.IntegerField(default=0)  # new

    class Meta:
        indexes = [models.Index(fields=["title"], name="opsapp_book_title_idx")]  # new


class Reader(models.Model):
    full_name = models.CharField(max_length=100)  # was `name`: a lone rename


class Shelf(models.Model):
    label = models.CharField(max_length=50)

    class Meta:
        indexes = [models.Index(fields=["label"], name="opsapp_shelf_label_idx")]  # new: a lone index


class Author(models.Model):  # a new model
    name = models.CharField(max_length=100)
