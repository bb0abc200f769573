# Fewer indexes to update on every tracked write: the experiment foreign keys of the
# tracking tables lose the index Django gives every foreign key. Each of these tables has
# composite indexes (or unique constraints) that start with the experiment, which serve
# every lookup and cascade that index served.
#
# Only the indexes are dropped. Left to itself, Django's AlterField would also drop each
# foreign key constraint and add it again on PostgreSQL, checking every row of the table
# while holding its lock: minutes of refused tracking writes on a large events table, for
# a constraint that does not change.

import django.db.models.deletion
from django.db import migrations, models

# (model, foreign key) whose own single-column index goes.
UNINDEXED = [
    ("dailyrollup", "experiment"),
    ("event", "experiment"),
    ("exposure", "experiment"),
    ("goalcompletion", "experiment"),
]


def _own_indexes(schema_editor, model, field):
    """The names of the plain single-column indexes of ``field`` (as Django's AlterField
    finds them): whatever they were called when created."""
    meta_index_names = {index.name for index in model._meta.indexes}
    return schema_editor._constraint_names(
        model, [field.column], index=True, type_=models.Index.suffix, exclude=meta_index_names
    )


def drop_own_indexes(apps, schema_editor):
    for model_name, field_name in UNINDEXED:
        model = apps.get_model("wagtail_experiments", model_name)
        field = model._meta.get_field(field_name)
        for name in _own_indexes(schema_editor, model, field):
            schema_editor.execute(schema_editor._delete_index_sql(model, name))


def restore_own_indexes(apps, schema_editor):
    for model_name, field_name in UNINDEXED:
        model = apps.get_model("wagtail_experiments", model_name)
        field = model._meta.get_field(field_name)
        if not _own_indexes(schema_editor, model, field):
            schema_editor.execute(schema_editor._create_index_sql(model, fields=[field]))


class Migration(migrations.Migration):

    dependencies = [
        ("wagtail_experiments", "0010_minimum_conversions_at_least_one"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunPython(drop_own_indexes, restore_own_indexes, elidable=False),
            ],
            state_operations=[
                migrations.AlterField(
                    model_name="dailyrollup",
                    name="experiment",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="wagtail_experiments.experiment",
                    ),
                ),
                migrations.AlterField(
                    model_name="event",
                    name="experiment",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="events",
                        to="wagtail_experiments.experiment",
                        verbose_name="experiment",
                    ),
                ),
                migrations.AlterField(
                    model_name="exposure",
                    name="experiment",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="exposures",
                        to="wagtail_experiments.experiment",
                    ),
                ),
                migrations.AlterField(
                    model_name="goalcompletion",
                    name="experiment",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="wagtail_experiments.experiment",
                    ),
                ),
            ],
        ),
    ]
