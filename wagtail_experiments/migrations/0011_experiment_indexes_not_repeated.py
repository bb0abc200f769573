# Fewer indexes to update on every tracked write: the experiment foreign keys of the
# tracking tables lose the index Django gives every foreign key. Each of these tables has
# composite indexes (or unique constraints) that start with the experiment, which serve
# every lookup and cascade that index served.
#
# Only the indexes are dropped. Left to itself, Django's AlterField would also drop each
# foreign key constraint and add it again on PostgreSQL, checking every row of the table
# while holding its lock: minutes of refused tracking writes on a large events table, for
# a constraint that does not change. On PostgreSQL each index is dropped (or, going back,
# built) CONCURRENTLY, outside a transaction: a busy site's reads and tracking writes go
# on meanwhile, where a plain DROP INDEX would lock each table against everything.

import django.db.models.deletion
from django.db import migrations, models, router


def _without_own_index(model_name, related_name, **options):
    """The state change of one tracking table's ``experiment`` foreign key."""
    return migrations.AlterField(
        model_name=model_name,
        name="experiment",
        field=models.ForeignKey(
            db_index=False,
            on_delete=django.db.models.deletion.CASCADE,
            related_name=related_name,
            to="wagtail_experiments.experiment",
            **options,
        ),
    )


# The foreign keys whose own index goes, as the migration state records them;
# ``drop_own_indexes`` drops their indexes, in this order.
UNINDEXED_FIELDS = [
    _without_own_index("exposure", "exposures"),
    _without_own_index("event", "events", verbose_name="experiment"),
    _without_own_index("goalcompletion", "+"),
    _without_own_index("dailyrollup", "+"),
]


def _tables(apps, schema_editor):
    """(model, field) of ``UNINDEXED_FIELDS`` on the database being migrated (a router may keep
    the tracking tables elsewhere)."""
    for operation in UNINDEXED_FIELDS:
        model = apps.get_model("wagtail_experiments", operation.model_name)
        if router.allow_migrate_model(schema_editor.connection.alias, model):
            yield model, model._meta.get_field(operation.name)


def _own_indexes(schema_editor, model, field):
    """The names of the plain single-column indexes of ``field``, as Django's AlterField
    finds them (whatever they were called when created). Collecting SQL (``sqlmigrate``)
    from a database that may not be the one migrated: the name Django gives them."""
    if schema_editor.collect_sql:
        return [schema_editor._create_index_name(model._meta.db_table, [field.column])]
    meta_index_names = {index.name for index in model._meta.indexes}
    return schema_editor._constraint_names(
        model, [field.column], index=True, type_=models.Index.suffix, exclude=meta_index_names
    )


def _concurrently(schema_editor):
    return {"concurrently": True} if schema_editor.connection.vendor == "postgresql" else {}


def drop_own_indexes(apps, schema_editor):
    for model, field in _tables(apps, schema_editor):
        for name in _own_indexes(schema_editor, model, field):
            schema_editor.execute(
                schema_editor._delete_index_sql(model, name, **_concurrently(schema_editor))
            )


def restore_own_indexes(apps, schema_editor):
    for model, field in _tables(apps, schema_editor):
        if schema_editor.collect_sql or not _own_indexes(schema_editor, model, field):
            schema_editor.execute(schema_editor._create_index_sql(
                model, fields=[field], **_concurrently(schema_editor)
            ))


class Migration(migrations.Migration):
    # CONCURRENTLY cannot run inside a transaction; each statement is its own.
    atomic = False

    dependencies = [
        ("wagtail_experiments", "0010_minimum_conversions_at_least_one"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunPython(drop_own_indexes, restore_own_indexes, elidable=False),
            ],
            state_operations=UNINDEXED_FIELDS,
        ),
    ]
