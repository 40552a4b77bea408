export { buildApp } from './app.js';
export { loadConfig, type ServerConfig } from './config.js';
export { type RunningServer, startServer } from './server.js';
