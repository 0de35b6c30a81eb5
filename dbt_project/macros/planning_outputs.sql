{#- Reporting models read the tables the Python planning assets write to schema planning.
    Those tables appear only after the first weekly run (and some only once their asset is
    deployed), and their columns are the planning code's: these macros let a model build an
    empty, typed result while a table is missing and find columns by name in either case.
    Call source() in the model itself so the dependency is recorded at parse time. -#}


{#- The existing relation behind a source, or none (always none at parse time). -#}
{% macro existing_relation(relation) -%}
    {%- if not execute -%}
        {{ return(none) }}
    {%- endif -%}
    {{ return(load_relation(relation)) }}
{%- endmacro %}


{#- The column of `relation` whose name is one of `candidates` (case-insensitively, first
    candidate first), quoted (planning names may be upper case or SQL keywords), or none. -#}
{% macro column_named(relation, candidates) -%}
    {%- if relation is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set by_name = {} -%}
    {%- for column in adapter.get_columns_in_relation(relation) -%}
        {%- do by_name.update({column.name | lower: column.name}) -%}
    {%- endfor -%}
    {%- for candidate in candidates -%}
        {%- if candidate | lower in by_name -%}
            {{ return(adapter.quote(by_name[candidate | lower])) }}
        {%- endif -%}
    {%- endfor -%}
    {{ return(none) }}
{%- endmacro %}


{#- `column` cast to `type`, or a typed null when the column is missing. -#}
{% macro column_or_null(column, type) -%}
    cast({{ column if column is not none else 'null' }} as {{ type }})
{%- endmacro %}


{#- `columns` of `relation`, each cast to its type: [name, type] takes the column of that name
    (it must exist); [name, type, candidates] the first of `candidates` the table has, or null
    (planning tables may keep SAP or English names). While the relation is missing, an empty
    result with the same names and types. -#}
{% macro typed_rows(relation, columns) -%}
    select
    {%- for column in columns %}
        {%- if relation is none %}
            {%- set found = none %}
        {%- elif column | length == 2 %}
            {%- set found = column[0] %}
        {%- else %}
            {%- set found = column_named(relation, column[2]) %}
        {%- endif %}
        {{ column_or_null(found, column[1]) }} as {{ column[0] }}
        {{- "," if not loop.last }}
    {%- endfor %}
    {%- if relation is none %}
    where 1 = 0
    {%- else %}
    from {{ relation }}
    {%- endif %}
{%- endmacro %}
