"""The library's books: a table changed online by ordinary Django migrations (see migrations/)."""

from django.db import models


class Book(models.Model):
    title = models.CharField(max_length=300)
    author_name = models.CharField(max_length=100)
    isbn = models.CharField(max_length=13, default="")
    published = models.DateField(null=True)
    copies = models.PositiveIntegerField(default=1)

    class Meta:
        indexes = [
            models.Index(fields=["author_name", "published"], name="library_book_author_pub_idx"),
            models.Index(fields=["isbn"], name="library_book_isbn_idx"),
        ]
