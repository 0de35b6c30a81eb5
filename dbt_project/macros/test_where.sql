{#- A daily run should cost in proportion to the day, not to the history: tests of a
    daily-partitioned model check only the window the run rebuilt. Every generic test has
    `where: "__partition_window__"` (dbt_project.yml); here, when the test runs, the placeholder
    becomes the --vars window on the tested model's partition column, which the model declares
    as `meta.partition_column`. Tests of other models, and runs without vars, test everything.
    (dbt renders a `where` config at parse time without project macros, hence the placeholder.)
    Other `where` text is kept as it is. -#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where') -%}
    {%- if where and '__partition_window__' in where -%}
        {%- set column = tested_partition_column() -%}
        {%- set window = partition_window() -%}
        {%- if column is none or (window.min_date is none and window.max_date is none) -%}
            {%- set where = where | replace('__partition_window__', '') | trim -%}
        {%- else -%}
            {%- set where = where | replace('__partition_window__', in_partition_window(column)) -%}
        {%- endif -%}
    {%- endif -%}
    {%- if where -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ where }}) dbt_subquery
        {%- endset -%}
        {{ return(filtered) }}
    {%- else -%}
        {{ return(relation) }}
    {%- endif -%}
{%- endmacro %}


{#- meta.partition_column of the model the running generic test is attached to, else none. -#}
{% macro tested_partition_column() -%}
    {%- set node_id = model.get('attached_node') -%}
    {%- set node = graph.nodes.get(node_id) if node_id else none -%}
    {%- if node is none -%}
        {{ return(none) }}
    {%- endif -%}
    {{ return(node.config.get('meta', {}).get('partition_column')) }}
{%- endmacro %}
