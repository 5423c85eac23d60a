//! The stores' options: where lag queries find events, from the constructors' keywords.

use waypost::EventsTable;

/// The events table the keywords name, or none (`events_table=None`: lag queries answer
/// placeholders).
#[allow(clippy::too_many_arguments)]
pub(crate) fn events_table_options(
    schema: Option<String>,
    table: Option<String>,
    event_id_column: String,
    event_type_column: String,
    timestamp_column: String,
    position_column: Option<String>,
) -> Option<EventsTable> {
    table.map(|table| EventsTable {
        schema,
        table,
        event_id_column,
        event_type_column,
        timestamp_column,
        position_column,
    })
}
