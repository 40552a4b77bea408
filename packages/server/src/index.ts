export { buildApp } from './app.js';
export { loadConfig, type ServerConfig } from './config.js';
export { startServer, type RunningServer } from './server.js';
