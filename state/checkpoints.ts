import { SqliteSaver } from "@langchain/langgraph-checkpoint-sqlite";
import { connection } from "./connection.js";
import type { StateStore } from "./store.js";

/**
 * LangGraph's checkpointer in the state database: the chat agent's memory
 * per chat (its tables are the saver's own). Imported by agent/agent.ts
 * only, which app.ts loads only when a model is configured: LangChain costs
 * start-up time and memory.
 */
export const checkpointSaver = (state: StateStore): SqliteSaver => new SqliteSaver(state[connection]);
