{#- Keep the latest delivery of each key: raw may hold re-deliveries of the same SAP row.
    Ties on _loaded_at go to the later file and line. Adds a helper column _row_rank. -#}
{% macro latest_per_key(relation, key_columns) %}
    select *
    from (
        select
            *,
            row_number() over (
                partition by {{ key_columns | join(', ') }}
                order by _loaded_at desc, _source_file desc, _source_line desc
            ) as _row_rank
        from {{ relation }}
    ) as ranked
    where _row_rank = 1
{% endmacro %}
