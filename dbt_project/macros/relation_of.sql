{#- The relation a model builds, looked up in the graph instead of through ref(), so the caller
    does not become a child of that model. Only for tests that must stay out of another
    selection's eager test pick-up (see assert_demand_weekly_conserves_sales_orders). -#}
{% macro relation_of(model_name) %}
    {%- if not execute -%}
        {{ return('') }}
    {%- endif -%}
    {%- for node in graph.nodes.values() -%}
        {%- if node.resource_type == 'model' and node.name == model_name -%}
            {{ return(adapter.get_relation(node.database, node.schema, node.alias)
                      or exceptions.raise_compiler_error(
                          model_name ~ " has not been built yet")) }}
        {%- endif -%}
    {%- endfor -%}
    {{ exceptions.raise_compiler_error("relation_of: no model named " ~ model_name) }}
{% endmacro %}
